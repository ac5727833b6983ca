#!/usr/bin/env node
// Smallest launcher for the mock ACP agent: the daemon runs `node <QWEN_CLI_ENTRY> --acp`.
// Spawns `<python> -S -E agent.py ...argv` with inherited stdio (python from QWEN_MOCK_ACP_PYTHON,
// else python3), forwards SIGTERM/SIGINT/SIGHUP, and exits with the child's code (0 when the child
// died of a signal we forwarded).
'use strict';
const { spawn } = require('child_process');
const os = require('os');
const path = require('path');

const python = process.env.QWEN_MOCK_ACP_PYTHON || 'python3';
const agent = path.join(__dirname, 'agent.py');
const child = spawn(python, ['-S', '-E', agent, ...process.argv.slice(2)], { stdio: 'inherit' });
let forwarded = false;

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    forwarded = true;
    child.kill(sig);
  });
}
child.on('error', (err) => {
  process.stderr.write(`[mock-acp launcher] cannot start ${python}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(signal ? (forwarded ? 0 : 128 + os.constants.signals[signal]) : code));
