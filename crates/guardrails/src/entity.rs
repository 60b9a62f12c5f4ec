//! The sensitive-information entity types: every type Bedrock Guardrails names, plus the HIPAA Safe
//! Harbor identifiers that list lacks. `docs/guardrail-entities.md` says what each one covers.

use serde::{Deserialize, Serialize};

macro_rules! entity_types {
    ($($variant:ident => $name:literal,)*) => {
        /// One kind of sensitive information.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum EntityType {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl EntityType {
            /// Every type, in declaration order.
            pub const ALL: &'static [EntityType] = &[$(EntityType::$variant,)*];

            /// The wire name (`US_SOCIAL_SECURITY_NUMBER`), which is also the mask text between braces.
            pub fn name(self) -> &'static str {
                match self { $(EntityType::$variant => $name,)* }
            }

            /// The type a wire name names, if any.
            pub fn from_name(name: &str) -> Option<EntityType> {
                match name { $($name => Some(EntityType::$variant),)* _ => None }
            }
        }
    };
}

entity_types! {
    Address => "ADDRESS",
    Age => "AGE",
    AwsAccessKey => "AWS_ACCESS_KEY",
    AwsSecretKey => "AWS_SECRET_KEY",
    CaHealthNumber => "CA_HEALTH_NUMBER",
    CaSocialInsuranceNumber => "CA_SOCIAL_INSURANCE_NUMBER",
    CardCvv => "CREDIT_DEBIT_CARD_CVV",
    CardExpiry => "CREDIT_DEBIT_CARD_EXPIRY",
    CardNumber => "CREDIT_DEBIT_CARD_NUMBER",
    DriverId => "DRIVER_ID",
    Email => "EMAIL",
    Iban => "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    IpAddress => "IP_ADDRESS",
    LicensePlate => "LICENSE_PLATE",
    MacAddress => "MAC_ADDRESS",
    Name => "NAME",
    Password => "PASSWORD",
    Phone => "PHONE",
    Pin => "PIN",
    SwiftCode => "SWIFT_CODE",
    UkNhsNumber => "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
    UkNationalInsuranceNumber => "UK_NATIONAL_INSURANCE_NUMBER",
    UkUtr => "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER",
    Url => "URL",
    Username => "USERNAME",
    UsBankAccountNumber => "US_BANK_ACCOUNT_NUMBER",
    UsBankRoutingNumber => "US_BANK_ROUTING_NUMBER",
    UsItin => "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    UsPassportNumber => "US_PASSPORT_NUMBER",
    UsSsn => "US_SOCIAL_SECURITY_NUMBER",
    Vin => "VEHICLE_IDENTIFICATION_NUMBER",
    MedicalRecordNumber => "MEDICAL_RECORD_NUMBER",
    HealthPlanBeneficiaryNumber => "HEALTH_PLAN_BENEFICIARY_NUMBER",
    Fax => "FAX",
    CertificateLicenseNumber => "CERTIFICATE_LICENSE_NUMBER",
    DeviceIdentifier => "DEVICE_IDENTIFIER",
    Date => "DATE",
    ZipCode => "ZIP_CODE",
}

impl std::fmt::Display for EntityType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EntityType::ALL {
            assert_eq!(EntityType::from_name(t.name()), Some(*t));
        }
        assert_eq!(EntityType::ALL.len(), 38);
        assert_eq!(EntityType::from_name("NOPE"), None);
    }
}
