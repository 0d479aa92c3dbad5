import { isDeviceMapperError } from '../../../src/dm/index.js';

/** The `code` of the DeviceMapperError `run` throws, undefined when it throws nothing, or a note when it throws anything else. */
export function code(run: () => unknown): string | undefined {
  try {
    run();
  } catch (e) {
    return isDeviceMapperError(e) ? e.code : `not a DeviceMapperError: ${String(e)}`;
  }
  return undefined;
}
