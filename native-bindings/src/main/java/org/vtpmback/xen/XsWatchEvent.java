package org.vtpmback.xen;

/** One watch event as libxenstore reports it: the node that changed and the token of the watch. */
public record XsWatchEvent(String path, String token) {
}
