/**
 * DEFAULT_SORT_WINDOW is how many events sorting holds back by default. (A module of its own: the command
 * line's settings show it without loading the trace readers.)
 */
export const DEFAULT_SORT_WINDOW = 10_000;
