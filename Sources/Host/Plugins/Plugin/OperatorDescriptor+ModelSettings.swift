extension OperatorDescriptor {
    /// `given` completed with the settings a host model determines for an operator it holds, each only where
    /// this operator's schema has the attribute, admits the value (an operator may implement fewer head counts
    /// than the model has) and `given` leaves it out: `num_heads` = the model's attention heads, `l_max` = its
    /// token count (the longest sequence the instance must take). The one place the host fills them in, for
    /// grafting, benchmarks and the demo alike.
    public func completing(_ given: [String: AttributeValue], heads: Int?, tokens: Int?) -> [String: AttributeValue] {
        var attributes = given
        for (name, value) in [("num_heads", heads), ("l_max", tokens)] {
            guard let value, attributes[name] == nil, admits(name, .int(Int64(value))) else { continue }
            attributes[name] = .int(Int64(value))
        }
        return attributes
    }
}
