import type { Endpoints } from '../../api/endpoints.js';
import { toIsoString } from '../../shared/time.js';
import * as access from '../access/ssh.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const createSshCertificate: H<'createSshCertificate'> = async (ctx, input) => {
  const issued = await access.createSshCertificate(ctx, input);
  return {
    certificate: issued.certificate,
    serial: issued.serial,
    login: issued.login,
    principal: issued.principal,
    role: issued.role,
    expires: toIsoString(issued.expiresAt),
    host: {
      name: issued.destination.name,
      address: issued.destination.sshAddress,
      authorities: issued.hostAuthorities,
    },
  };
};

export const syncSshHost: H<'syncSshHost'> = (ctx, input) => access.syncSshHost(ctx, input);

export const createSshHostCertificate: H<'createSshHostCertificate'> = async (ctx, input) => {
  const { certificate, expiresAt } = await access.createSshHostCertificate(ctx, input);
  return { certificate, expires: toIsoString(expiresAt) };
};

export const rotateSshAuthority: H<'rotateSshAuthority'> = (ctx, input) =>
  access.rotateSshAuthority(ctx, input.purpose);
