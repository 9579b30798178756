/**
 * What every protocol module says about an identity provider: its settings, its secrets for one
 * call, who signed in, and how a call failed. Shared by oidc.ts and groups.ts (no cycle).
 */
import type { ProviderKind } from '../models.js';

/**
 * How a call to an identity provider failed: `refused` (it said no: the refresh token or code
 * is no longer good, so the user must sign in again), `unreachable` (no answer, a timeout, a 5xx:
 * keep what we know), `invalid` (a wrong answer: bad token, wrong audience, failed check).
 */
type IdpFailure = 'refused' | 'unreachable' | 'invalid';

/**
 * What made an `invalid` answer invalid, when the person signing in can do something about it
 * (or should at least be told which kind of problem it is).
 */
type IdpProblem = 'email_unverified' | 'email_missing' | 'check_failed' | 'client_refused';

export class IdpError extends Error {
  readonly failure: IdpFailure;
  readonly problem: IdpProblem | undefined;
  constructor(
    failure: IdpFailure,
    message: string,
    options?: { cause?: unknown; problem?: IdpProblem },
  ) {
    super(message, options);
    this.failure = failure;
    this.problem = options?.problem;
    this.name = 'IdpError';
  }
}

/** What the protocol needs to know about a provider. */
export interface IdpSettings {
  kind: ProviderKind;
  issuer: string;
  clientId: string;
  scopes: string[];
  groupsClaim: string;
  apiUrl?: string;
  domainAdminEmail?: string;
}

/** The secrets of one login, resolved just for it. */
export interface IdpSecrets {
  clientSecret: string;
  /** Google: the service account key JSON. */
  serviceAccountKey?: string;
}

/** Who the provider says signed in, and their groups (undefined: could not tell, keep them). */
export interface IdpIdentity {
  subject: string;
  email: string;
  /** The provider vouches for the address (`email_verified: true`, or Azure AD's sign-in name). */
  emailVerified: boolean;
  groups: string[] | undefined;
  /** Group names the provider gave that are not group names here (`ProviderGroups.refused`). */
  refusedGroups: string[];
  /** Why the groups could not be read, when they could not. */
  groupsError?: string;
  refreshToken: string | undefined;
}
