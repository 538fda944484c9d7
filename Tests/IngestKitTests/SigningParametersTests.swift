import IngestKit
import Testing

/// Presigned URLs: the signature changes with every link, so it is not part of a source's
/// identity, and it is a credential, so it is printed and stored nowhere.
@Suite struct SigningParametersTests {
    @Test func awsSignatureV4IsDropped() {
        let url = "https://bucket.s3.amazonaws.com/docs/report.pdf?versionId=3&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261207T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FwoG&X-Amz-Signature=deadbeef&response-content-type=application%2Fpdf"
        #expect(redactingCredentials(url) == "https://bucket.s3.amazonaws.com/docs/report.pdf?versionId=3&response-content-type=application%2Fpdf")
    }

    @Test func namesCompareCaseInsensitivelyAndAnEmptyQueryLeavesNoQuestionMark() {
        #expect(redactingCredentials("https://h/a.pdf?x-amz-signature=1&X-AMZ-DATE=2") == "https://h/a.pdf")
        #expect(redactingCredentials("https://h/a.pdf?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=c&X-Goog-Date=d&X-Goog-Expires=60&X-Goog-SignedHeaders=host&X-Goog-Signature=s&X-Goog-Security-Token=t") == "https://h/a.pdf")
        #expect(redactingCredentials("https://h/a.pdf?X%2DAmz%2DSignature=1&keep=1#page=2") == "https://h/a.pdf?keep=1#page=2")
    }

    @Test func signatureV2FormsAreDropped() {
        #expect(redactingCredentials("https://h/a.pdf?AWSAccessKeyId=AKIA&Expires=1700000000&Signature=abc%3D&a=1") == "https://h/a.pdf?a=1")
        #expect(redactingCredentials("https://storage.googleapis.com/b/a.pdf?GoogleAccessId=sa%40p.iam&Expires=1&Signature=x") == "https://storage.googleapis.com/b/a.pdf")
    }

    /// Azure's SAS fields have short names (`sp`, `se`) that mean other things elsewhere: they go
    /// only when `sv` and `sig` are both there.
    @Test func anAzureSASIsDroppedOnlyWhenItIsOne() {
        let sas = "https://acct.blob.core.windows.net/c/a.pdf?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-08T00%3A00%3A00Z&st=2026-12-07&spr=https&sip=1.2.3.4&sr=b&skoid=o&sktid=t&skt=1&ske=2&sks=b&skv=2022&sig=abc%2B%3D&comp=blocklist"
        #expect(redactingCredentials(sas) == "https://acct.blob.core.windows.net/c/a.pdf?comp=blocklist")
        #expect(redactingCredentials("https://h/search?sp=1&se=2&sv=3") == "https://h/search?sp=1&se=2&sv=3")
        #expect(redactingCredentials("https://h/search?sig=1&sp=2") == "https://h/search?sig=1&sp=2")
    }

    @Test func credentialsAndSignaturesGoTogetherAndTextAroundURLsStays() {
        #expect(redactingCredentials("https://u:p@h/a.pdf?Signature=s&Expires=1&AWSAccessKeyId=k") == "https://***@h/a.pdf")
        #expect(redactingCredentials("cannot reach https://h/a.pdf?X-Amz-Signature=s (timed out); and \"http://g/b?q=1&sig=2\"")
            == "cannot reach https://h/a.pdf (timed out); and \"http://g/b?q=1&sig=2\"")
        #expect(redactingCredentials("no url? here=1&Signature=2") == "no url? here=1&Signature=2")
        #expect(redactingCredentials("https://h/a?b=1 https://h/c?Signature=1&d=2") == "https://h/a?b=1 https://h/c?d=2")
    }
}
