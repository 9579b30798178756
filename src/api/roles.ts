/** Roles on the Infra API itself (grants whose resource is `infra`). */
export type InfraRole = 'admin' | 'view' | 'auditor' | 'connector';
