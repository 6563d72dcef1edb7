package org.vtpmback.xen;

import java.util.HashMap;
import java.util.Map;

/**
 * The Linux errno values the Xen libraries report, with their C names. Unknown numbers map to
 * {@link #UNKNOWN} but keep their numeric value in {@link #describe(int)}.
 */
public enum Errno {
    EPERM(1, "Operation not permitted"),
    ENOENT(2, "No such file or directory"),
    ESRCH(3, "No such process"),
    EINTR(4, "Interrupted system call"),
    EIO(5, "Input/output error"),
    ENXIO(6, "No such device or address"),
    E2BIG(7, "Argument list too long"),
    EBADF(9, "Bad file descriptor"),
    EAGAIN(11, "Resource temporarily unavailable"),
    ENOMEM(12, "Cannot allocate memory"),
    EACCES(13, "Permission denied"),
    EFAULT(14, "Bad address"),
    EBUSY(16, "Device or resource busy"),
    EEXIST(17, "File exists"),
    ENODEV(19, "No such device"),
    ENOTDIR(20, "Not a directory"),
    EISDIR(21, "Is a directory"),
    EINVAL(22, "Invalid argument"),
    ENFILE(23, "Too many open files in system"),
    EMFILE(24, "Too many open files"),
    ENOSPC(28, "No space left on device"),
    EROFS(30, "Read-only file system"),
    EPIPE(32, "Broken pipe"),
    ERANGE(34, "Numerical result out of range"),
    ENAMETOOLONG(36, "File name too long"),
    ENOSYS(38, "Function not implemented"),
    ENOTEMPTY(39, "Directory not empty"),
    ENODATA(61, "No data available"),
    EPROTO(71, "Protocol error"),
    EBADMSG(74, "Bad message"),
    EOVERFLOW(75, "Value too large for defined data type"),
    EMSGSIZE(90, "Message too long"),
    ENOTSUP(95, "Operation not supported"),
    ECONNREFUSED(111, "Connection refused"),
    EISCONN(106, "Transport endpoint is already connected"),
    ENOTCONN(107, "Transport endpoint is not connected"),
    ETIMEDOUT(110, "Connection timed out"),
    EALREADY(114, "Operation already in progress"),
    EQUOTA(122, "Disk quota exceeded"),
    UNKNOWN(-1, "Unknown error");

    private static final Map<Integer, Errno> BY_VALUE = new HashMap<>();

    static {
        for (Errno e : values()) {
            BY_VALUE.put(e.value, e);
        }
    }

    private final int value;
    private final String text;

    Errno(int value, String text) {
        this.value = value;
        this.text = text;
    }

    public static Errno of(int value) {
        return BY_VALUE.getOrDefault(value, UNKNOWN);
    }

    public int value() {
        return value;
    }

    /** {@code EACCES (Permission denied)}. */
    public String describe() {
        return name() + " (" + text + ")";
    }

    /** Like {@link #describe()} but keeps the number of an errno this enum does not name. */
    public static String describe(int value) {
        Errno e = of(value);
        return e == UNKNOWN ? "errno " + value : e.describe();
    }
}
