import { AppError } from '../../shared/errors.js';
import { countAdmins } from '../data/grants.js';
import type { RequestContext } from './context.js';

/**
 * Fails the request (rolling back its transaction) when the change it made leaves nobody with
 * `admin` on `infra`: an install without an admin can only be recovered through the config file.
 */
export async function assertAdminRemains(ctx: RequestContext): Promise<void> {
  if ((await countAdmins(ctx.db, ctx.clock.now())) === 0) {
    throw new AppError(
      'bad_request',
      'this would leave nobody with the admin role on infra; grant admin to someone else first',
    );
  }
}
