/**
 * Waits for `promise`, `ms` at most: for the steps of closing that wait on a Redis which may not
 * answer (a close must end whatever Redis does). Rejects only as `promise` does.
 */
export async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise, late]);
  clearTimeout(timer);
}
