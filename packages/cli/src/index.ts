export { main, runCli, resolveActionWord, parseCommandLine, type CommandLine } from './main.js';
