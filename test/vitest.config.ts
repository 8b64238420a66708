import { defineConfig } from "vitest/config";

// One config for every suite. Native and browser suites start their own servers on loopback;
// nothing here reaches the network.
export default defineConfig({
  test: {
    root: new URL("..", import.meta.url).pathname,
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default"],
  },
});
