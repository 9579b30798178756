import { z } from 'zod';

/** Writes a value as JSON text. */
type Write = (value: unknown) => string;

function wrongKind(expected: string, value: unknown): never {
  throw new TypeError(`response has ${typeof value} where the schema declares ${expected}`);
}

const writeString: Write = (v) =>
  typeof v === 'string' ? JSON.stringify(v) : wrongKind('a string', v);
const writeNumber: Write = (v) =>
  typeof v === 'number' && Number.isFinite(v) ? String(v) : wrongKind('a number', v);
const writeBoolean: Write = (v) =>
  typeof v === 'boolean' ? (v ? 'true' : 'false') : wrongKind('a boolean', v);

function writeObject(shape: Record<string, z.ZodType>): Write {
  const fields = Object.entries(shape).map(([key, schema]) => ({
    key,
    // The key, quoted and followed by its colon, is written once here rather than per answer.
    prefix: `${JSON.stringify(key)}:`,
    write: compileSerializer(schema),
  }));
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return wrongKind('an object', v);
    const record = v as Record<string, unknown>;
    let out = '{';
    for (const field of fields) {
      const value = record[field.key];
      // An absent optional field is left out, as JSON.stringify leaves out undefined.
      if (value === undefined) continue;
      out += `${out.length > 1 ? ',' : ''}${field.prefix}${field.write(value)}`;
    }
    return `${out}}`;
  };
}

function writeArray(item: Write): Write {
  return (v) => {
    if (!Array.isArray(v)) return wrongKind('an array', v);
    let out = '[';
    for (let i = 0; i < v.length; i++) out += `${i > 0 ? ',' : ''}${item(v[i])}`;
    return `${out}]`;
  };
}

/**
 * Builds, once per response schema, what writes an answer as JSON with exactly the schema's
 * fields: whatever else a handler's object carries (a secret hash, an internal column) never
 * leaves the server. It checks that each value is of the declared kind (a string, a number...),
 * not its format (the handlers' types are checked when compiling). What it does not model
 * (unions, records) goes through zod for that part: parse, which drops undeclared fields too,
 * then JSON.stringify.
 */
export function compileSerializer(schema: z.ZodType): Write {
  if (schema instanceof z.ZodObject) return writeObject(schema.shape as Record<string, z.ZodType>);
  if (schema instanceof z.ZodArray)
    return writeArray(compileSerializer(schema.element as z.ZodType));
  if (schema instanceof z.ZodNullable) {
    const inner = compileSerializer(schema.unwrap() as z.ZodType);
    return (v) => (v === null ? 'null' : inner(v));
  }
  if (schema instanceof z.ZodOptional) {
    // Inside an object an undefined field is left out before this runs.
    return compileSerializer(schema.unwrap() as z.ZodType);
  }
  if (schema instanceof z.ZodEnum) {
    const allowed = new Set<unknown>(schema.options);
    return (v) => (allowed.has(v) ? JSON.stringify(v) : wrongKind('one of its values', v));
  }
  switch (schema.def.type) {
    case 'string':
      return writeString;
    case 'number':
      return writeNumber;
    case 'boolean':
      return writeBoolean;
    default:
      return (v) => JSON.stringify(schema.parse(v));
  }
}
