/**
 * Internal: the package's root directory. This module sits one level below
 * it (src/, dist/, cjs/), and so does every file of the bundled build
 * (bundle/), which inlines it: paths to build/, proto/ and package.json are
 * taken from here rather than from each module's own depth.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding package.json. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
