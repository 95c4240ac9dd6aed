// Exit statuses of outcomes (man/vkexec.8, EXIT STATUS): with --expect only a match is success.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT_ENDED_UNMATCHED, EXIT_QUIT_UNMATCHED, OUTCOME_EXIT, outcomeExit, type OutcomeStatus } from '../../../src/vm/engines/engine.js';

test('without --expect a guest that ends by itself is success; with --expect it is its own status', () => {
  for (const s of ['poweroff', 'reboot', 'halt'] as OutcomeStatus[]) {
    assert.equal(outcomeExit(s, false), 0, s);
    assert.equal(outcomeExit(s, true), EXIT_ENDED_UNMATCHED, s);
  }
  assert.equal(outcomeExit('quit', false), 0);
  assert.equal(outcomeExit('quit', true), EXIT_QUIT_UNMATCHED);
  assert.equal(outcomeExit('matched', true), 0);
  for (const s of ['panic', 'purgatory-mismatch', 'triple-fault', 'hang', 'timeout', 'interrupted'] as OutcomeStatus[]) {
    assert.equal(outcomeExit(s, true), OUTCOME_EXIT[s], s);
    assert.notEqual(OUTCOME_EXIT[s], 0, s);
  }
  const failures = new Set([EXIT_ENDED_UNMATCHED, EXIT_QUIT_UNMATCHED, OUTCOME_EXIT.panic, OUTCOME_EXIT['purgatory-mismatch'], OUTCOME_EXIT.hang, OUTCOME_EXIT.timeout, OUTCOME_EXIT.interrupted]);
  assert.equal(failures.size, 7, 'each failure kind has its own status');
});
