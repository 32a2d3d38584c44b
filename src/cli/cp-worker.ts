/**
 * The worker thread that creates files of a tree copy (see cp-writer.ts for
 * why). It says when it is ready, then applies each batch it is sent and
 * sends the buffers back with what failed.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { HostApplier } from './cp-apply.js';
import type { ApplyOptions, WorkerReply, WorkerRequest } from './cp-ops.js';

/** The options, and the channel the main thread talks on. */
const { options, port } = workerData as { options: ApplyOptions; port: MessagePort };
const applier = new HostApplier(options);

port.on('message', (req: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { type: 'batch-done', ops: req.ops, data: req.data, failures: applier.apply(req) };
  } catch (e) {
    reply = { type: 'crashed', message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  if (reply.type === 'batch-done') port.postMessage(reply, [reply.ops, reply.data]);
  else port.postMessage(reply);
});
port.postMessage({ type: 'ready' } satisfies WorkerReply);
