package org.vtpmback.test.bench;

/**
 * One benchmark client's way to a TPM: sends one command and returns the whole response. Each
 * instance is used by one thread at a time, one command in flight, as both swtpm and tpmif require.
 */
@FunctionalInterface
interface TpmClient {
    byte[] transact(byte[] command) throws Exception;
}
