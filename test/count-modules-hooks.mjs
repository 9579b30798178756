// Loader hooks for count-modules.mjs (they run on the loader's own thread): note each URL loaded.
import { appendFileSync } from 'node:fs';

let esmList;
export function initialize(data) {
  esmList = data.esmList;
}

export async function load(url, context, next) {
  appendFileSync(esmList, `${url}\n`);
  return next(url, context);
}
