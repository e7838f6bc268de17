export * from '../../server/core/policy.js';
