// Starts fauxqs (an SQS + S3 emulator, in-process) on a free loopback port for a test file, and
// gives the client settings that point the AWS SDK at it. State is in memory and dies with stop().
import { startFauxqs } from "fauxqs";
import type { FauxqsServer } from "fauxqs";

export interface AwsEmulator {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  server: FauxqsServer;
  stop(): Promise<void>;
}

export async function startAwsEmulator(): Promise<AwsEmulator> {
  // port 0: the OS picks a free port, so test files can run in parallel.
  const server = await startFauxqs({ port: 0, logger: false, host: "127.0.0.1" });
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    region: "us-east-1",
    // fauxqs accepts any credentials; fixed ones keep the SDK from searching the environment.
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    server,
    stop: () => server.stop(),
  };
}
