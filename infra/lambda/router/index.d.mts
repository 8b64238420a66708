// Types for index.mjs (plain JavaScript so Lambda runs it without a build).
export interface RouterRecord {
  messageId: string;
  body: string;
  messageAttributes?: Record<string, { dataType: string; stringValue?: string; binaryValue?: string | null }>;
}
export interface SendEntry {
  Id: string;
  MessageBody: string;
  MessageAttributes?: Record<string, { DataType: string; StringValue?: string; BinaryValue?: Uint8Array }>;
}
export function createRouter(deps: {
  routes: Record<string, string>;
  sendBatch: (queueUrl: string, entries: SendEntry[]) => Promise<{ Failed?: { Id?: string }[] }>;
}): (event: { Records: RouterRecord[] }) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
export function handler(event: { Records: RouterRecord[] }): Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;
