/**
 * Drain counts the exchanges a proxy holds, so that a graceful stop can wait for them: `wait(ms)` resolves
 * once none is left, or after `ms` with how many still were.
 */
export class Drain {
  #active = 0;
  #idle: (() => void) | undefined;

  /** active is how many exchanges are under way. */
  get active(): number {
    return this.#active;
  }

  enter(): void {
    this.#active++;
  }

  leave(): void {
    if (--this.#active === 0) this.#idle?.();
  }

  /** wait resolves with 0 once no exchange is left, or with how many are left when `ms` has passed. */
  wait(ms: number): Promise<number> {
    if (this.#active === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idle = undefined;
        resolve(this.#active);
      }, ms);
      this.#idle = () => {
        this.#idle = undefined;
        clearTimeout(timer);
        resolve(0);
      };
    });
  }
}
