// CI runs every property test with one fixed seed, so a CI result can be reproduced exactly and a
// red run is never a roll of the dice; elsewhere each run draws a new seed and explores further.
// FC_SEED=<n> replays a given run anywhere (fast-check prints the seed of a failing property).
import fc from 'fast-check';

const fixed = process.env.FC_SEED ?? (process.env.CI === 'true' ? '20261130' : undefined);
if (fixed !== undefined) fc.configureGlobal({ seed: Number(fixed) });
