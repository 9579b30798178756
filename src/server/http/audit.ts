import type { Endpoints } from '../../api/endpoints.js';
import * as access from '../access/audit.js';
import { auditToApi, pageToApi } from './convert.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const listAudit: H<'listAudit'> = async (ctx, input) =>
  pageToApi(await access.listAudit(ctx, input), input.limit, auditToApi);

export const verifyAudit: H<'verifyAudit'> = async (ctx) => access.verifyAudit(ctx);
