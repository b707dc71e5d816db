/** Ends an exhaustive switch: the compiler proves `value` is `never`, the runtime reports what slipped through. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
