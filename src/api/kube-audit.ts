import { z } from 'zod';
import { Paging, Time, UserRef, listOf, text } from './common.js';
import { endpoint } from './endpoint.js';
import { DestinationName } from './grants.js';
import { routes } from './routes.js';

const Stage = z.enum(['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic']);

const UserInfo = z.object({
  username: z.string().max(512),
  uid: z.string().max(128).optional(),
  groups: z.array(z.string().max(512)).max(1000).optional(),
});

const ObjectRef = z.object({
  resource: z.string().max(256).optional(),
  namespace: z.string().max(256).optional(),
  name: z.string().max(512).optional(),
  apiGroup: z.string().max(256).optional(),
  apiVersion: z.string().max(64).optional(),
  subresource: z.string().max(256).optional(),
});

/** Kubernetes' timestamps carry microseconds (`2026-01-02T03:04:05.123456Z`). */
const MicroTime = z.iso.datetime({ precision: 6 }).or(Time);

/**
 * One request to a cluster as the connector saw it: an `audit.k8s.io/v1` Event (level
 * Metadata: no bodies), with the destination it went to.
 */
export const KubeEvent = z
  .object({
    kind: z.literal('Event'),
    apiVersion: z.literal('audit.k8s.io/v1'),
    level: z.literal('Metadata'),
    auditID: z.uuid(),
    stage: Stage.describe('ResponseStarted opens a watch, exec or other stream; ResponseComplete'),
    requestURI: z.string().max(8192),
    verb: z.string().max(32).describe('get, list, watch, create, update, patch, delete, ...'),
    user: UserInfo.describe('The Infra user (uid: its id) and its groups with access here'),
    impersonatedUser: UserInfo.optional().describe(
      'Who the connector asked Kubernetes to act as (absent when refused before)',
    ),
    sourceIPs: z.array(z.string().max(64)).max(16),
    userAgent: z.string().max(1024).optional(),
    objectRef: ObjectRef.optional(),
    responseStatus: z
      .object({ metadata: z.object({}), code: z.number().int() })
      .optional()
      .describe('The HTTP status (101 for an upgraded exec or attach)'),
    requestReceivedTimestamp: MicroTime,
    stageTimestamp: MicroTime,
    annotations: z.record(z.string().max(256), z.string().max(4096)).optional(),
    destination: z.string().describe('The cluster (set by the server from the connector key)'),
  })
  .meta({ id: 'KubeEvent' });
export type KubeEvent = z.infer<typeof KubeEvent>;

/** What a connector sends: the event without its destination, which its key decides. */
export const KubeEventInput = KubeEvent.omit({ destination: true });
export type KubeEventInput = z.infer<typeof KubeEventInput>;

export const createKubeEvents = endpoint({
  ...routes.createKubeEvents,
  summary: "Record requests to a destination's cluster (its connector does this)",
  tag: 'Kubernetes audit',
  auth: { roles: ['connector'] },
  input: z
    .object({
      destination: DestinationName,
      events: z.array(KubeEventInput).min(1).max(1000),
    })
    .strict(),
  output: z.object({
    accepted: z.number().int().describe('Events new to the server'),
    duplicates: z.number().int().describe('Events it already had (by auditID and stage)'),
  }),
  status: 200,
});

export const listKubeEvents = endpoint({
  ...routes.listKubeEvents,
  summary: 'Requests to clusters, newest first (admins and auditors see all; others their own)',
  tag: 'Kubernetes audit',
  auth: { roles: ['admin', 'auditor'], orSelf: true },
  input: z
    .object({
      user: UserRef.optional().describe('Requests of this user (`self` is always allowed)'),
      userName: text(254)
        .optional()
        .describe('Requests of users whose name contains this, ignoring case'),
      destination: DestinationName.optional(),
      namespace: text(253).optional(),
      verb: text(32).optional(),
      resource: text(253).optional(),
      status: z.coerce
        .number({ error: 'must be a number' })
        .int()
        .min(100)
        .max(599)
        .optional()
        .describe('HTTP status code'),
      since: Time.optional(),
      until: Time.optional(),
      ...Paging,
    })
    .strict(),
  output: listOf(KubeEvent),
});

const RecordingId = z.uuid().describe('The auditID of the exec or attach request');

/** Who ran what, where: the facts in a recording's asciicast header too. */
const RecordingFields = {
  user: UserInfo.describe('The Infra user (uid: its id)'),
  namespace: z.string().max(253),
  pod: z.string().max(253),
  container: z.string().max(253),
  command: z.array(z.string().max(4096)).max(256),
  subresource: z.enum(['exec', 'attach']),
  stdinRecorded: z.boolean().describe('Whether what was typed is in the recording'),
  startedAt: Time,
  endedAt: Time.optional(),
  exitCode: z.number().int().optional().describe('The exit status, when the session ended'),
};

export const KubeRecording = z
  .object({ id: RecordingId, destination: z.string(), ...RecordingFields })
  .meta({ id: 'KubeRecording' });
export type KubeRecording = z.infer<typeof KubeRecording>;

export const createKubeRecordingChunk = endpoint({
  ...routes.createKubeRecordingChunk,
  summary: "Store part of an exec or attach session's recording (its connector does this)",
  tag: 'Kubernetes audit',
  auth: { roles: ['connector'] },
  input: z
    .object({
      destination: DestinationName,
      id: RecordingId,
      seq: z.number().int().min(0).max(1_000_000).describe('Chunks are joined in this order'),
      data: z
        .string()
        .max(512 * 1024)
        .describe('Asciicast v2 lines; chunk 0 starts with the header'),
      recording: z.object(RecordingFields).strict(),
    })
    .strict(),
  output: undefined,
});

export const listKubeRecordings = endpoint({
  ...routes.listKubeRecordings,
  summary: 'Recorded exec and attach sessions, newest first (admins and auditors see all)',
  tag: 'Kubernetes audit',
  auth: { roles: ['admin', 'auditor'], orSelf: true },
  input: z
    .object({
      user: UserRef.optional().describe('Sessions of this user (`self` is always allowed)'),
      userName: text(254)
        .optional()
        .describe('Sessions of users whose name contains this, ignoring case'),
      destination: DestinationName.optional(),
      namespace: text(253).optional(),
      since: Time.optional(),
      until: Time.optional(),
      ...Paging,
    })
    .strict(),
  output: listOf(KubeRecording),
});

export const getKubeRecording = endpoint({
  ...routes.getKubeRecording,
  summary: "A recorded session with its asciicast v2 text (the player's input)",
  tag: 'Kubernetes audit',
  auth: { roles: ['admin', 'auditor'], orSelf: true },
  input: z.object({ id: RecordingId }).strict(),
  output: KubeRecording.extend({ cast: z.string().describe('asciicast v2') }).meta({
    id: 'KubeRecordingWithCast',
  }),
});
