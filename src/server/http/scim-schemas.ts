import { SCIM_SCHEMAS } from '../access/scim.js';

/**
 * SCIM's discovery documents (RFC 7643 §5-7): what this server supports and the attributes it
 * keeps. Attributes not listed are kept as the provider sends them and given back on reads.
 */

interface AttributeOptions {
  type?: 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime';
  multiValued?: boolean;
  required?: boolean;
  caseExact?: boolean;
  mutability?: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned?: 'always' | 'default' | 'never' | 'request';
  uniqueness?: 'none' | 'server' | 'global';
  subAttributes?: Record<string, unknown>[];
  description?: string;
}

function attribute(name: string, o: AttributeOptions = {}): Record<string, unknown> {
  return {
    name,
    type: o.type ?? 'string',
    multiValued: o.multiValued ?? false,
    description: o.description ?? '',
    required: o.required ?? false,
    caseExact: o.caseExact ?? false,
    mutability: o.mutability ?? 'readWrite',
    returned: o.returned ?? 'default',
    uniqueness: o.uniqueness ?? 'none',
    ...(o.subAttributes && { subAttributes: o.subAttributes }),
  };
}

const multiValuedParts = [
  attribute('value'),
  attribute('display'),
  attribute('type'),
  attribute('primary', { type: 'boolean' }),
];

const userSchema = {
  id: SCIM_SCHEMAS.user,
  name: 'User',
  description: 'A person; userName (an email address) is the Infra user name',
  attributes: [
    attribute('userName', {
      required: true,
      uniqueness: 'server',
      description: 'An email address; compared without case and stored in lower case',
    }),
    attribute('name', {
      type: 'complex',
      subAttributes: ['formatted', 'familyName', 'givenName', 'middleName'].map((n) =>
        attribute(n),
      ),
    }),
    attribute('displayName'),
    attribute('active', {
      type: 'boolean',
      description: 'false deactivates: every session ends and sign-in is refused',
    }),
    attribute('emails', { type: 'complex', multiValued: true, subAttributes: multiValuedParts }),
    attribute('externalId', { caseExact: true }),
  ],
};

const groupSchema = {
  id: SCIM_SCHEMAS.group,
  name: 'Group',
  description: 'A group; displayName is the Infra group name',
  attributes: [
    attribute('displayName', { required: true, caseExact: true, uniqueness: 'server' }),
    attribute('members', {
      type: 'complex',
      multiValued: true,
      description: 'Users this provider provisioned; memberships from elsewhere are not shown',
      subAttributes: [
        attribute('value', { mutability: 'immutable' }),
        attribute('display', { mutability: 'readOnly' }),
        attribute('$ref', { type: 'reference', mutability: 'immutable' }),
      ],
    }),
    attribute('externalId', { caseExact: true }),
  ],
};

const enterpriseUserSchema = {
  id: SCIM_SCHEMAS.enterpriseUser,
  name: 'EnterpriseUser',
  description: 'Kept as sent; Infra does not act on it',
  attributes: ['employeeNumber', 'costCenter', 'organization', 'division', 'department'].map((n) =>
    attribute(n),
  ),
};

function withMeta(base: string, kind: 'Schema' | 'ResourceType', id: string, doc: object) {
  return {
    ...doc,
    meta: { resourceType: kind, location: `${base}/${kind}s/${id}` },
  };
}

export function scimSchemas(base: string): Record<string, unknown>[] {
  return [userSchema, groupSchema, enterpriseUserSchema].map((s) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    ...withMeta(base, 'Schema', s.id, s),
  }));
}

export function scimResourceTypes(base: string): Record<string, unknown>[] {
  return [
    {
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      schema: SCIM_SCHEMAS.user,
      schemaExtensions: [{ schema: SCIM_SCHEMAS.enterpriseUser, required: false }],
    },
    { id: 'Group', name: 'Group', endpoint: '/Groups', schema: SCIM_SCHEMAS.group },
  ].map((t) => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    ...withMeta(base, 'ResourceType', t.id, t),
  }));
}

export function scimServiceProviderConfig(base: string, maxResults: number) {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'A provider’s SCIM token, from `infra providers scim-key PROVIDER`',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}
