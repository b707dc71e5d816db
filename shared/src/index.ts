export * from './assert-never.js';
export * from './room.js';
export * from './close-codes.js';
export * from './limits.js';
export * from './exec-frames.js';
