import type { ActionContext } from '../context.js';

export async function run(ctx: ActionContext): Promise<number> {
  throw Object.assign(new Error(`${ctx.action} is not implemented yet`), { exitCode: 2 });
}
