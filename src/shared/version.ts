/** The product version, printed by `infra version` and served at /api/version. */
export const productVersion = '0.1.0';

/**
 * The API version this build speaks. Clients send it in the `Infra-Version` header; it changes
 * only when a response or request shape changes.
 */
export const apiVersion = '0.1.0';
