import type { Version } from '../../api/system.js';
import { endpoints } from '../../api/endpoints.js';
import { apiVersion, productVersion } from '../../shared/version.js';
import { buildOpenApiDocument } from './openapi.js';

export async function getVersion(): Promise<Version> {
  return { version: productVersion, apiVersion };
}

let openApiDocument: Record<string, unknown> | undefined;

export async function getOpenApi(): Promise<Record<string, unknown>> {
  openApiDocument ??= buildOpenApiDocument(endpoints);
  return openApiDocument;
}
