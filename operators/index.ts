export { parallelMap } from './parallelMap.js';
export { parallelSettle } from './parallelSettle.js';
export { recoverFailures } from './recoverFailures.js';
export { routeFailures } from './routeFailures.js';
export { skipFailures } from './skipFailures.js';
export { throwFailures } from './throwFailures.js';
