/** Roles on the Infra API itself (grants whose resource is `infra`). */
export const infraRoles = ['admin', 'view', 'connector'] as const;
export type InfraRole = (typeof infraRoles)[number];
