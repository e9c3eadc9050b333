/** Collects what one operation allocates on the device, to free it on every exit path. */
export class ResourceScope implements Disposable {
  #items: Disposable[] = [];

  add<T extends Disposable>(item: T): T {
    this.#items.push(item);
    return item;
  }

  dispose(): void {
    const items = this.#items.reverse();
    this.#items = [];
    for (const item of items) {
      try {
        item[Symbol.dispose]();
      } catch {
        // Freeing must not hide the error that brought us here.
      }
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
