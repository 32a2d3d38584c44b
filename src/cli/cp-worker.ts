/**
 * The worker thread that creates the files of a tree copy (see cp-writer.ts
 * for why). It says when it is ready; once told to take over (with what the
 * main thread's applier knows), it applies each batch as it arrives, in
 * order, and sends the buffers back with what failed.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { HostApplier, type ApplierState } from './cp-apply.js';
import type { ApplyOptions, WorkerReply, WorkerRequest } from './cp-ops.js';

/** The options, and the channel the main thread talks on (see cp-writer.ts). */
const { options, port } = workerData as { options: ApplyOptions; port: MessagePort };
let applier: HostApplier | undefined;

port.on('message', (req: WorkerRequest) => {
  if (req.type === 'take-over') {
    applier = new HostApplier(options, req.state as ApplierState);
    return;
  }
  let reply: WorkerReply;
  try {
    if (applier === undefined) throw new Error('a batch came before the applier state');
    reply = { type: 'batch-done', ops: req.ops, data: req.data, ...applier.apply(req) };
  } catch (e) {
    reply = { type: 'crashed', message: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  if (reply.type === 'batch-done') port.postMessage(reply, [reply.ops, reply.data]);
  else port.postMessage(reply);
});
port.postMessage({ type: 'ready' } satisfies WorkerReply);
