// A node:test reporter that prints one plain line at the end, `N passed, N failed`, for CI to
// read. Suites (describe) are not counted, only the tests in them; skipped and todo tests count
// as neither.
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { details, skip, todo } = event.data;
    if (details?.type === 'suite' || skip || todo) continue;
    if (event.type === 'test:pass') passed++;
    else failed++;
  }
  yield `${passed} passed, ${failed} failed\n`;
}
