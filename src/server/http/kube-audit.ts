import type { Endpoints } from '../../api/endpoints.js';
import type { KubeEvent } from '../../api/kube-audit.js';
import * as access from '../access/kube-audit.js';
import { pageToApi, recordingToApi } from './convert.js';
import type { Handler } from './route.js';

type H<K extends keyof Endpoints> = Handler<Endpoints[K]>;

export const createKubeEvents: H<'createKubeEvents'> = async (ctx, input) =>
  access.createKubeEvents(ctx, input);

export const listKubeEvents: H<'listKubeEvents'> = async (ctx, input) =>
  pageToApi(await access.listKubeEvents(ctx, input), input.limit, (e) => e.event as KubeEvent);

export const createKubeRecordingChunk: H<'createKubeRecordingChunk'> = async (ctx, input) => {
  await access.createKubeRecordingChunk(ctx, input);
};

export const listKubeRecordings: H<'listKubeRecordings'> = async (ctx, input) =>
  pageToApi(await access.listKubeRecordings(ctx, input), input.limit, recordingToApi);

export const getKubeRecording: H<'getKubeRecording'> = async (ctx, input) => {
  const { recording, cast } = await access.getKubeRecording(ctx, input.id);
  return { ...recordingToApi(recording), cast };
};
