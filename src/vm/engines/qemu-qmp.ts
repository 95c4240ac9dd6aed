// QEMU's monitor through QMP (docs/interop/qmp-spec): one connection to the run's socket to read the CPU
// registers (`human-monitor-command` "info registers") before the engine stops QEMU, for the post-mortem.

import { connect } from 'node:net';

const QMP_TIMEOUT_MS = 2000;

/** The text of `info registers`, or null when the monitor does not answer in time. */
export function qmpInfoRegisters(socket: string, timeoutMs = QMP_TIMEOUT_MS): Promise<string | null> {
  return new Promise((resolve) => {
    const conn = connect(socket);
    let buf = '';
    let step = 0;
    const done = (v: string | null) => {
      clearTimeout(timer);
      conn.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    conn.on('error', () => done(null));
    conn.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        let msg: { QMP?: unknown; return?: unknown; error?: unknown };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          return done(null);
        }
        if (msg.error) return done(null);
        // Greeting -> capabilities negotiation -> the command; events in between are skipped.
        if (step === 0 && msg.QMP) {
          step = 1;
          conn.write('{"execute":"qmp_capabilities"}\n');
        } else if (step === 1 && 'return' in msg) {
          step = 2;
          conn.write('{"execute":"human-monitor-command","arguments":{"command-line":"info registers"}}\n');
        } else if (step === 2 && 'return' in msg) {
          return done(typeof msg.return === 'string' ? msg.return : null);
        }
      }
    });
  });
}
