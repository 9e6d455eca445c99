import FastCGI
import Settings

extension HerdConfiguration {
    /// The socket a worker or the purge server listens on: systemd's when
    /// it passed one (`herd@.socket`, `herd-purge.socket`: a restart then
    /// refuses no connection, they wait in its backlog), else one bound to
    /// `server.bind`.
    func listeningSocket() throws -> ListeningSocket {
        let address = bindAddress
        do {
            return try ListeningSocket.inheritedFromSystemd(address: address)
                ?? ListeningSocket(address: address, unixSocketMode: server.socketMode)
        } catch {
            throw ConfigurationError(key: "server.bind", message: "cannot listen on \(address): \(error)")
        }
    }
}
