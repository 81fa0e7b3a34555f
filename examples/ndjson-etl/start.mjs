/**
 * The entry of `npm run example:ndjson-etl`: registers tsx on this thread, then runs `main.ts`.
 *
 * `node --import tsx main.ts` would do the same work, but worker threads inherit the command
 * line's flags, so each of rxpool's workers would load tsx as well (a few MB each; see the
 * README's "Memory") although the only module they load, `transform.mjs`, is JavaScript.
 * Registered here, tsx stays on the main thread.
 */
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
