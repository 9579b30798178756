import type { Secret } from './secrets.js';

/** Where and as whom to call AWS. Without keys the SDK's default chain is used (env, IRSA, IMDS). */
export interface AwsOptions {
  region?: string;
  /** Another endpoint (a VPC endpoint, LocalStack, moto). */
  endpoint?: string;
  accessKeyId?: Secret;
  secretAccessKey?: Secret;
  sessionToken?: Secret;
}

/** Options for any `@aws-sdk/client-*` constructor. Keys are revealed per request, so a refreshed key is used at once. */
export function awsClientConfig(options: AwsOptions): {
  region?: string;
  endpoint?: string;
  credentials?: () => Promise<{
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
  }>;
  maxAttempts: number;
} {
  const { accessKeyId, secretAccessKey, sessionToken } = options;
  return {
    region: options.region || undefined,
    endpoint: options.endpoint || undefined,
    credentials:
      accessKeyId && secretAccessKey
        ? async () => ({
            accessKeyId: accessKeyId.reveal(),
            secretAccessKey: secretAccessKey.reveal(),
            sessionToken: sessionToken?.reveal(),
          })
        : undefined,
    maxAttempts: 3,
  };
}

/**
 * An AWS SDK error as one phrase: the service's error name and message (which name the
 * resource, never its value), or the network failure.
 */
export function describeAwsError(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string; $metadata?: unknown };
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND') return `cannot reach AWS: ${e.code}`;
  if (e.name && e.$metadata !== undefined) return `${e.name}: ${e.message ?? ''}`.trim();
  return e.message ?? 'unknown error';
}
