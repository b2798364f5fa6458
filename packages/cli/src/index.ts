export { main, runCli, resolveActionWord } from './main.js';
