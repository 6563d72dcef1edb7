package org.vtpmback.xen.jna.xs;

import com.sun.jna.Library;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import org.vtpmback.xen.jna.LazyLibrary;

/**
 * Raw mapping of {@code libxenstore.so.4} (Xen 4.17 {@code tools/include/xenstore.h}). C names and
 * shapes; C99 {@code bool} returns are {@code byte} (only the low 8 bits are defined by the x86-64
 * ABI). Every returned {@link Pointer} is one malloc'd block the caller frees with
 * {@code LibC.free} (array and strings share the block for directory and watch results). Errors are
 * reported through errno. The library is thread-safe per handle (it is built with pthreads).
 */
public interface XenStoreLib extends Library {
    LazyLibrary<XenStoreLib> LIBRARY = new LazyLibrary<>("libxenstore.so.4", XenStoreLib.class);

    /** {@code XBT_NULL}: no transaction. */
    int XBT_NULL = 0;
    /** Drop queued events of a watch when it is removed. */
    long XS_UNWATCH_FILTER = 1L << 2;
    int XS_WATCH_PATH = 0;
    int XS_WATCH_TOKEN = 1;
    /** {@code sizeof(struct xs_permissions)}: {@code unsigned int id; unsigned int perms;}. */
    int XS_PERMISSIONS_SIZE = 8;

    XsHandle xs_open(NativeLong flags);

    void xs_close(XsHandle h);

    /** Malloc'd, NUL-terminated; {@code len} excludes the terminator. */
    Pointer xs_read(XsHandle h, int t, String path, IntByReference len);

    byte xs_write(XsHandle h, int t, String path, byte[] data, int len);

    byte xs_mkdir(XsHandle h, int t, String path);

    byte xs_rm(XsHandle h, int t, String path);

    /** Malloc'd {@code char *[num]} with the strings in the same block. */
    Pointer xs_directory(XsHandle h, int t, String path, IntByReference num);

    /** Malloc'd {@code struct xs_permissions[num]}. */
    Pointer xs_get_permissions(XsHandle h, int t, String path, IntByReference num);

    byte xs_set_permissions(XsHandle h, int t, String path, Pointer perms, int num);

    byte xs_watch(XsHandle h, String path, String token);

    byte xs_unwatch(XsHandle h, String path, String token);

    /** A descriptor that becomes readable when watch events are queued. */
    int xs_fileno(XsHandle h);

    /** Non-blocking: malloc'd {@code char *[2]} (path, token), or NULL with errno EAGAIN when drained. */
    Pointer xs_check_watch(XsHandle h);

    /** Blocking: malloc'd {@code char *[num]}. */
    Pointer xs_read_watch(XsHandle h, IntByReference num);

    /** Returns {@link #XBT_NULL} on failure. */
    int xs_transaction_start(XsHandle h);

    /** False with errno EAGAIN means "conflict: start over". */
    byte xs_transaction_end(XsHandle h, int t, byte abort);

    /** Malloc'd string {@code /local/domain/<domid>}. */
    Pointer xs_get_domain_path(XsHandle h, int domid);

    byte xs_is_domain_introduced(XsHandle h, int domid);
}
