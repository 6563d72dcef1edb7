package org.vtpmback.hotplug.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import org.vtpmback.xen.Errno;

/**
 * Why a file operation failed, errno-style ({@code ENOENT (No such file or directory)}), without the file
 * name Java put in the exception: that may be an internal temporary file, and the caller names the file the
 * operator gave.
 */
final class IoErrors {
    private IoErrors() {
    }

    static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return Errno.ENOENT.describe();
        }
        if (e instanceof AccessDeniedException) {
            return Errno.EACCES.describe();
        }
        if (e instanceof NotDirectoryException) {
            return Errno.ENOTDIR.describe();
        }
        if (e instanceof FileAlreadyExistsException) {
            return Errno.EEXIST.describe();
        }
        if (e instanceof FileSystemException f && f.getReason() != null) {
            // the JDK's reason is strerror's text: give the errno name with it where we know it
            for (Errno errno : Errno.values()) {
                if (errno.describe().endsWith("(" + f.getReason() + ")")) {
                    return errno.describe();
                }
            }
            return f.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
