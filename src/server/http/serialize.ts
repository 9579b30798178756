import { z } from 'zod';

/** Copies a value keeping what its schema declares. */
type Pick = (value: unknown) => unknown;

function wrongKind(expected: string, value: unknown): never {
  throw new TypeError(`response has ${typeof value} where the schema declares ${expected}`);
}

function kind(expected: 'string' | 'number' | 'boolean'): Pick {
  return (v) => (typeof v === expected ? v : wrongKind(`a ${expected}`, v));
}

function pickObject(shape: Record<string, z.ZodType>): Pick {
  const fields = Object.entries(shape).map(([key, schema]) => ({ key, pick: picker(schema) }));
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return wrongKind('an object', v);
    const from = v as Record<string, unknown>;
    const to: Record<string, unknown> = {};
    for (const field of fields) {
      const value = from[field.key];
      // An absent optional field stays absent, as JSON.stringify leaves out undefined.
      if (value !== undefined) to[field.key] = field.pick(value);
    }
    return to;
  };
}

function picker(schema: z.ZodType): Pick {
  if (schema instanceof z.ZodObject) return pickObject(schema.shape as Record<string, z.ZodType>);
  if (schema instanceof z.ZodArray) {
    const item = picker(schema.element as z.ZodType);
    return (v) => (Array.isArray(v) ? v.map(item) : wrongKind('an array', v));
  }
  if (schema instanceof z.ZodNullable) {
    const inner = picker(schema.unwrap() as z.ZodType);
    return (v) => (v === null ? null : inner(v));
  }
  // Inside an object an undefined field is left out before this runs.
  if (schema instanceof z.ZodOptional) return picker(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodEnum) {
    const allowed = new Set<unknown>(schema.options);
    return (v) => (allowed.has(v) ? v : wrongKind('one of its values', v));
  }
  switch (schema.def.type) {
    case 'string':
      return kind('string');
    case 'number':
      return kind('number');
    case 'boolean':
      return kind('boolean');
    default:
      return (v) => schema.parse(v);
  }
}

/**
 * Builds, once per response schema, what writes an answer as JSON with exactly the schema's
 * fields: whatever else a handler's object carries (a secret hash, an internal column) never
 * leaves the server. It checks that each value is of the declared kind (a string, a number...),
 * not its format (the handlers' types are checked when compiling). What it does not model
 * (unions, records) goes through zod for that part, whose parse drops undeclared fields too.
 */
export function compileSerializer(schema: z.ZodType): (value: unknown) => string {
  const pick = picker(schema);
  return (value) => JSON.stringify(pick(value));
}
