import HostCore

extension CFunctionSpec: Encodable {
    /// Writes the description back as it was read (so saving the registry keeps it), through ``StrictJSON``'s
    /// value: members by key, integers as integers, other numbers as doubles.
    public func encode(to encoder: any Encoder) throws {
        try source.encode(to: encoder)
    }
}
