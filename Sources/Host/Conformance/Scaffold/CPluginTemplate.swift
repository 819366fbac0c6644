/// The files of a C plugin scaffold: a complete, conformant example operator to edit.
///
/// The operator (a causal token mixer): `y[b,t,c] = a[c] * x[b,t,c] + s[c] * x[b,t-shift,c]`, parameters `a` and
/// `s` of shape `[D]`, attribute `shift` (1 ... 64). Its vector-Jacobian product:
/// `dx[b,t,c] = a[c] dy[b,t,c] + s[c] dy[b,t+shift,c]`, `da[c] = sum x dy`, `ds[c] = sum x[t-shift] dy[t]`.
///
/// The files are the templates in `Templates/c/` (`plugin.c.template`, `Makefile.template`, `README-c.md.template`),
/// embedded by SwiftPM's `.embedInCode`, with `@NAME@` for the plugin name. The source includes
/// `OperatorPluginHelpers.h`, which ``PluginScaffold`` copies into the folder beside `OperatorABI.h`.
enum CPluginTemplate {
    /// `<name>.c`.
    static func source(name: String) -> String {
        ScaffoldTemplate.render(PackageResources.plugin_c_template, ["NAME": name])
    }

    /// `Makefile`.
    static func makefile(name: String) -> String {
        ScaffoldTemplate.render(PackageResources.Makefile_template, ["NAME": name])
    }

    /// `README.md`.
    static func readme(name: String) -> String {
        ScaffoldTemplate.render(PackageResources.README_c_md_template, ["NAME": name])
    }
}
