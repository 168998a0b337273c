/**
 * The whole tree type-checks: src/ (what `npm run build` compiles) and test/ and bench/,
 * which vitest and vite-node run without checking types (they only strip them), and the
 * web page's sources (esbuild bundles them without checking either), with the DOM lib.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

describe('type check', () => {
  for (const project of ['tsconfig.check.json', 'tsconfig.web.json']) {
    it(`tsc -p ${project} reports no errors`, () => {
      let out = '';
      try {
        execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, project)], { cwd: root, encoding: 'utf8' });
      } catch (e) {
        out = String((e as { stdout?: string }).stdout ?? e);
      }
      expect(out.split('\n').filter((l) => l.includes('error TS'))).toEqual([]);
    }, 120_000);
  }
});
