// LRU cache of prompt embeddings keyed by the cleaned prompt: a repeated prompt (re-rolls, "same
// seed at 720p") skips the 11 GB text encoder entirely.
export class PromptCache {
  readonly #max: number;
  readonly #map = new Map<string, Float32Array>();
  #hits = 0;
  #misses = 0;

  constructor(maxEntries: number) {
    this.#max = Math.max(0, maxEntries);
  }

  get(key: string): Float32Array | undefined {
    const v = this.#map.get(key);
    if (v) {
      this.#map.delete(key);
      this.#map.set(key, v); // most recent last
      this.#hits++;
    } else {
      this.#misses++;
    }
    return v;
  }

  set(key: string, value: Float32Array): void {
    if (this.#max === 0) return;
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string);
  }

  stats(): { hits: number; misses: number; size: number } {
    return { hits: this.#hits, misses: this.#misses, size: this.#map.size };
  }
}
