/**
 * `work`, or the error `late()` makes if it has not settled after `ms`, on a real-time, unref'ed timer (it never
 * keeps a process up). For calls outside a store tier's watchdog: bus publishes and quits, the fleet's store calls.
 */
export function within<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
