/**
 * The navigation shows how many access requests wait for the caller's review; a page that
 * decides one says so here, and the count is read again without waiting for a navigation.
 */
const target = new EventTarget();

export function reviewCountChanged(): void {
  target.dispatchEvent(new Event('change'));
}

/** Calls `fn` at each change; returns what stops it. */
export function onReviewCountChange(fn: () => void): () => void {
  target.addEventListener('change', fn);
  return () => target.removeEventListener('change', fn);
}
